"""The packaged demo config is the flagship case study's config, key for key."""

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def test_the_demo_config_is_the_case_study_config():
    demo = yaml.safe_load((ROOT / "discover" / "demos" / "hbv_et_twin.yaml").read_text())
    case = yaml.safe_load((ROOT / "case_studies" / "hbv_et_twin" / "config.yaml").read_text())
    assert demo == case
