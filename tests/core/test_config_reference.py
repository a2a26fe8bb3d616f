"""docs/config.md is generated from the config models, is current, and names every key."""

import re
from pathlib import Path

import pytest
import yaml

from discover.config import parse_config
from discover.config.base import Strict
from discover.config.reference import EXAMPLES, REGENERATE, reference, type_text

DOC = Path(__file__).parents[2] / "docs" / "config.md"


def _models() -> set[type[Strict]]:
    """Every config model: the subclasses of the sections' base, at any depth."""
    found, todo = set(), [Strict]
    while todo:
        for cls in todo.pop().__subclasses__():
            if cls not in found:
                found.add(cls)
                todo.append(cls)
    return found


def test_committed_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == reference(), (
        f"docs/config.md is out of date; regenerate it with `{REGENERATE}`"
    )


@pytest.mark.parametrize("model", sorted(_models(), key=lambda m: m.__name__))
def test_every_field_has_a_meaning_and_its_section_lists_every_key(model):
    keys = set(re.findall(r"^\| `([^`]+)` \|", DOC.read_text(encoding="utf-8"), re.M))
    names = [field.alias or key for key, field in model.model_fields.items()]
    for key, field in model.model_fields.items():
        assert field.description and field.description.strip(), f"{model.__name__}.{key}"
    prefixes = {key.rpartition(".")[0] for key in keys}
    listed = [p for p in prefixes if all(f"{p}.{n}".lstrip(".") in keys for n in names)]
    assert listed, f"no section of docs/config.md lists every key of {model.__name__}: {names}"


def test_known_keys_have_their_dotted_path_type_and_default():
    text = reference()
    assert "| `distill.selection.rule` | text | `bic` |" in text
    assert "| `train.split` | number, > 0, < 1 | `0.7` |" in text
    assert "| `model.neural.<slot>.hidden` | list of integer, > 0, ≤ 4096, at most 16 items" in text
    assert "| `hypotheses.<name>.expression` | expression | required |" in text
    assert "| `validate.site_folds` |" in text  # the alias, not the attribute validate_


def test_type_text_names_optional_and_literal_types():
    from typing import Literal

    assert type_text(Literal["a", "b"] | None) == "one of `a`, `b` or null"
    assert type_text(dict[str, float]) == "mapping of name → number"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_example_is_a_valid_config_of_its_model_type(kind):
    config = parse_config(yaml.safe_load(EXAMPLES[kind]))
    assert config.model.type == kind
    assert f"```yaml\n{EXAMPLES[kind]}```" in reference()
