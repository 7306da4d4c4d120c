"""Patient-level time-to-event data reconstructed from a published Kaplan-Meier figure.

Method: Guyot P, Ades AE, Ouwens MJNM, Welton NJ, BMC Med Res Methodol 2012;12:9 (``guyot``), from
digitised curves and the at-risk table printed under the figure, with the reported total events when
given. ``inputs`` checks and cleans what a digitiser produces; ``ipd`` runs the algorithm for every arm
and gives the patients an ADaM form (ADSL, ADTTE); ``roundtrip`` measures how well a real trial is
recovered from its own figure. Reconstructed data are an approximation of the trial's patients, never
the patients themselves.
"""

from trialkit.analyses.reconstruct.guyot import ArmReconstruction, reconstruct_arm
from trialkit.analyses.reconstruct.inputs import CleanCurves, clean_curves, check_at_risk, parse_events
from trialkit.analyses.reconstruct.ipd import DAYS_PER, METHOD, Reconstruction, derive_adam, reconstruct_trial

__all__ = ["ArmReconstruction", "reconstruct_arm", "CleanCurves", "clean_curves", "check_at_risk", "parse_events",
           "DAYS_PER", "METHOD", "Reconstruction", "derive_adam", "reconstruct_trial"]
