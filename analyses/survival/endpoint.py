"""How the survival stage words an endpoint: survival, or the probability of staying free of the event.

A Kaplan-Meier curve is "survival" only when the event is death. ``endpoint_wording``
decides from the ADTTE PARAMCD and PARAM what the KM figure's y axis, its
caption and the report's tables call the curve:

- overall survival (PARAMCD ``OS``, or a PARAM that mentions survival or
  death): "Survival probability", "survival", events are deaths when PARAMCD
  is OS;
- any other endpoint (time to first dermatologic event, time to progression):
  "Event-free probability", "event-free probability", events are events; the
  caption names the endpoint by its PARAM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EndpointWording", "endpoint_wording"]

_SURVIVAL = re.compile(r"surviv|death", re.IGNORECASE)


@dataclass(frozen=True)
class EndpointWording:
    """The words for one endpoint's Kaplan-Meier estimates."""

    is_survival: bool
    y_label: str  # the KM figure's y axis, the report's spanner over S(t)
    estimate: str  # what the curve estimates, in a sentence: "survival", "event-free probability"
    events: str  # the column of event counts: "Deaths" or "Events"
    km_caption: str  # the KM figure's caption in the report


def endpoint_wording(paramcd: str | None, param: str | None = None) -> EndpointWording:
    """The wording for ADTTE PARAMCD ``paramcd`` with label ``param`` (either may be missing)."""
    code = (paramcd or "").strip()
    label = (param or "").strip()
    survival = code.upper() == "OS" or bool(_SURVIVAL.search(label))
    estimate = "survival" if survival else "event-free probability"
    named = label or code
    endpoint = f" ({named})" if named else ""
    return EndpointWording(
        is_survival=survival,
        y_label="Survival probability" if survival else "Event-free probability",
        estimate=estimate,
        events="Deaths" if code.upper() == "OS" else "Events",
        km_caption=f"Kaplan-Meier estimates of {estimate} by group{endpoint}, with the number at risk under the time axis.",
    )
