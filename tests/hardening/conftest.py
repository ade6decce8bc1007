"""Hypothesis profiles for the hardening tests.

`ci` (the default) runs a meaningful number of examples per field in a few seconds each;
`APIGEN_HYPOTHESIS_PROFILE=thorough` runs many more (minutes), e.g. before a release.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # one example compiles, parses and runs nginx -t: timing varies with load
    "suppress_health_check": (HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large),
    "print_blob": True,
}
settings.register_profile("ci", max_examples=int(os.environ.get("APIGEN_HYPOTHESIS_EXAMPLES", "25")), **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("APIGEN_HYPOTHESIS_PROFILE", "ci"))
