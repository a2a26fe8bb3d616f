"""distill.selection: a rule name or a mapping of the rule and its settings; the flat keys
of earlier releases folded into it; rule names checked against the registry; and
reinsert.refit refused with a rule that trains models."""

import pytest

from discover.config import ConfigError, SelectionConfig, parse_config
from discover.stages.select import SELECTION_RULES, EngineChoice, register_selection_rule


def _raw(distill: dict, **sections) -> dict:
    """A small valid ODE config with ``distill`` and other ``sections`` (validation on)."""
    return {
        "data": {"path": "data.csv", "time": "t"},
        "model": {
            "type": "ode",
            "states": ["x"],
            "equations": {"x": "-F(x)"},
            "neural": {"F": {"inputs": ["x"]}},
        },
        "train": {"validation": 0.2},
        "distill": distill,
        **sections,
    }


def test_mapping_and_flat_keys_give_the_same_settings():
    mapping = {"rule": "retrain", "shortlist": 2, "tolerance": 0.1, "alpha": 0.01}
    nested = parse_config(_raw({"selection": {**mapping, "refit": "all", "refit_steps": 4}}))
    flat = {"shortlist": 2, "shortlist_tolerance": 0.1, "selection_alpha": 0.01}
    flat.update(selection_refit="all", selection_refit_steps=4)
    with pytest.warns(FutureWarning, match=r"distill\.selection\.tolerance"):
        folded = parse_config(_raw({"selection": "retrain", **flat}))
    assert folded.distill.selection == nested.distill.selection
    assert nested.distill.selection.tolerance == 0.1
    assert nested.distill.selection.refit_steps == 4


def test_a_rule_name_is_the_mapping_with_default_settings():
    named = parse_config(_raw({"selection": "front"})).distill.selection
    assert named == SelectionConfig(rule="front")
    # unset, an ode study trained by multiple shooting selects by held-out error, one
    # integrated in one shot by bic; a named rule is kept
    assert parse_config(_raw({})).distill.selection.rule == "heldout"
    assert parse_config(_raw({"selection": {"refit": "all"}})).distill.selection.rule == "heldout"
    assert parse_config(_raw({"selection": "bic"})).distill.selection.rule == "bic"
    one_shot = {"validation": 0.2, "shooting": False}
    assert parse_config(_raw({}, train=one_shot)).distill.selection.rule == "bic"
    assert SelectionConfig().rule == "bic"  # what an hbv study gets


def test_a_setting_given_both_ways_is_refused_naming_both_keys():
    raw = _raw({"selection": {"rule": "retrain", "shortlist": 2}, "shortlist": 3})
    with pytest.raises(ConfigError, match=r"distill\.shortlist and distill\.selection\.shortlist"):
        parse_config(raw)


def test_an_unknown_rule_is_refused_listing_the_registered_rules():
    with pytest.raises(ConfigError, match=r"distill\.selection\.rule") as caught:
        parse_config(_raw({"selection": {"rule": "lowest_aic"}}))
    assert "'lowest_aic'" in str(caught.value)
    for name in SELECTION_RULES:
        assert repr(name) in str(caught.value)


@pytest.fixture
def registered_rule():
    register_selection_rule("engine_again", EngineChoice())
    yield "engine_again"
    SELECTION_RULES.pop("engine_again")


def test_a_rule_registered_at_run_time_is_accepted(registered_rule):
    config = parse_config(_raw({"selection": registered_rule}))
    assert config.distill.selection.rule == registered_rule
    assert not config.distill.selection.trains_models()


def test_reinsert_refit_with_a_rule_that_trains_models_is_refused():
    raw = _raw({"selection": "retrain"}, reinsert={"refit": "constants"})
    with pytest.raises(ConfigError, match=r"reinsert\.refit .*distill\.selection\.rule 'retrain'"):
        parse_config(raw)


def test_reinsert_refit_is_fine_with_bic_and_retrain_is_fine_without_it():
    config = parse_config(_raw({"selection": "bic"}, reinsert={"refit": "all"}))
    assert config.reinsert.refit == "all"
    retrain = parse_config(_raw({"selection": "retrain"}, reinsert={"iterations": 5}))
    assert retrain.distill.selection.trains_models()
