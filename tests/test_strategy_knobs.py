"""A strategy declares its settings once, in its own file, and every surface follows.

The toy strategy below is registered the way a new strategy file registers itself and is
never named anywhere else; the tests find its setting in the CLI's help, in a link's round
trip, on the Train page and in the trainer's learning rates. Around it: the declarations of
every registered strategy are sound, and one file holds one strategy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.engine_helpers import TINY
from tests.page_helpers import APP
from tlcore.config import RunConfig
from tlcore.freeze import Phase
from tlcore.strategies import STRATEGIES, Strategy, all_knobs
from tlcore.strategies.knobs import Knob, apply_settings, parse_settings, with_value
from tlcore.urlstate import config_from_params, config_to_params

PACKAGE = Path(__file__).resolve().parent.parent / "tlcore" / "strategies"
NOT_STRATEGIES = {"__init__", "base", "knobs", "adaptation"}  # the framework, not strategies


class ToyScaled(Strategy):
    """The head alone, at ``toy_scale`` times the learning rate."""

    knobs = (Knob("toy_scale", "float", 1.0, 0.5, 4.0, "multiplies the head's learning rate",
                  label="Toy LR scale"),)

    def phase(self, groups, cfg, epoch):
        return Phase(frozenset({"head"}), lr_scale=self.value(cfg, "toy_scale"))


@pytest.fixture
def toy():
    STRATEGIES.add(ToyScaled("toy_scaled", "Toy (scaled head)", "A test's strategy with one knob."))
    yield STRATEGIES.get("toy_scaled")
    STRATEGIES.remove("toy_scaled")


def test_toy_setting_is_in_the_cli_help(toy, capsys):
    from tlcore.cli import build_parser, main

    run_help = next(a for a in build_parser()._subparsers._group_actions[0].choices["run"]._actions
                    if "--set" in a.option_strings).help
    assert "toy_scaled: toy_scale=1 (0.5..4): multiplies the head's learning rate" in run_help
    assert main(["strategies"]) == 0
    assert "--set toy_scale=1 (0.5..4)" in capsys.readouterr().out


def test_toy_setting_reaches_the_config_from_the_cli(toy):
    from tlcore.cli import build_parser
    from tlcore.cli_runs import _config_from_args

    args = build_parser().parse_args(["run", "--strategy", "toy_scaled", "--set", "toy_scale=2.5"])
    assert _config_from_args(args).extra == (("toy_scale", 2.5),)
    with pytest.raises(ValueError, match="toy_scale .* must be a number from 0.5 to 4; got 9"):
        _config_from_args(build_parser().parse_args(["run", "--strategy", "toy_scaled", "--set", "toy_scale=9"]))
    with pytest.raises(ValueError, match="no setting 'cut'"):
        _config_from_args(build_parser().parse_args(["run", "--strategy", "toy_scaled", "--set", "cut=1"]))


def test_toy_setting_round_trips_through_a_link_and_is_bounded_there(toy):
    cfg = with_value(RunConfig(strategy="toy_scaled"), toy.knob("toy_scale"), 2.5)
    back, notices = config_from_params(config_to_params(cfg))
    assert back == cfg and not notices
    back, notices = config_from_params({"strategy": "toy_scaled", "extra": "toy_scale:40"})
    assert back.extra == () and any("toy_scale" in n and "0.5 to 4" in n for n in notices)


def test_toy_setting_is_a_widget_on_the_train_page(toy, tmp_data_dir):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"strategy": "toy_scaled"})
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    widget = at.number_input(key="train_knob_toy_scale")
    assert widget.label == "Toy (scaled head): Toy LR scale" and widget.value == 1.0
    widget.set_value(2.5).run()
    assert not at.exception, at.exception
    assert at.session_state["tl_setup"].extra == (("toy_scale", 2.5),)


def test_toy_setting_is_what_the_trainer_uses(toy, one_thread):
    from tlcore.train import run

    r = run(TINY.replace(strategy="toy_scaled", epochs=1, extra=(("toy_scale", 2.0),)))
    assert r.status == "done", r.message
    assert r.history[0]["lrs"]["head"] == pytest.approx(2.0 * TINY.lr)


def test_a_default_value_keeps_the_config_and_its_run_id():
    """Setting a knob to its default leaves ``extra`` as if it was never set (old run ids stay)."""
    dann = STRATEGIES.get("dann")
    cfg = RunConfig(strategy="dann", target="mnist_m")
    assert with_value(cfg, dann.knob("dann_weight"), 0.3) == cfg
    assert with_value(cfg, dann.knob("dann_weight"), 1.0).extra == (("dann_weight", 1.0),)
    top = STRATEGIES.get("finetune_top").knob("top_k")  # an older setting with a field of its own
    assert with_value(cfg, top, 3).top_k == 3 and with_value(cfg, top, 3).extra == ()


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_declared_setting_is_sound(name):
    s = STRATEGIES.get(name)
    default = RunConfig(strategy=name)
    for k in s.knobs:
        assert k.help and k.check(k.default) == k.default
        assert s.value(default, k.name) == k.cast(k.default)
        if k.field:  # the field's default is the knob's, so a config without it reads the same
            assert getattr(default, k.field) == k.default
    s.check(default)  # the defaults pass the strategy's own check


def test_a_setting_name_means_one_thing_across_strategies():
    knobs = all_knobs()
    assert knobs["target_pool_max"] is STRATEGIES.get("dann").knob("target_pool_max")
    assert knobs["target_pool_max"] is STRATEGIES.get("coral").knob("target_pool_max")


def test_check_refuses_a_foreign_or_out_of_range_setting():
    with pytest.raises(ValueError, match="Fine-tune all has no setting dann_weight"):
        STRATEGIES.get("finetune_all").check(RunConfig(strategy="finetune_all", extra=(("dann_weight", 1.0),)))
    t = STRATEGIES.get("transplant")
    with pytest.raises(ValueError, match="frozen_copy .* must be 0 or 1; got 0.5"):
        t.check(RunConfig(strategy="transplant", extra=(("frozen_copy", 0.5),)))
    with pytest.raises(ValueError, match="cut .* from 0 to 3 .this backbone has 3 body groups.; got 4"):
        t.check(RunConfig(strategy="transplant", extra=(("cut", 4.0),)), ["stem", "b1", "b2", "head"])


def test_own_settings_keep_only_the_strategys_own():
    base = RunConfig(target="mnist_m", extra=(("coral_weight", 2.0), ("dann_weight", 1.0), ("target_pool_max", 50.0)))
    assert STRATEGIES.get("dann").own_settings(base).extra == (("dann_weight", 1.0), ("target_pool_max", 50.0))
    assert STRATEGIES.get("source_only").own_settings(base).extra == ()


def test_settings_parse_and_apply_with_clear_errors():
    assert parse_settings(["dann_weight=0.5", "disc_hidden=64"]) == {"dann_weight": 0.5, "disc_hidden": 64.0}
    for bad in ("dann_weight", "=1", "dann_weight=lots", "two words=1"):
        with pytest.raises(ValueError, match="NAME=NUMBER"):
            parse_settings([bad])
    dann, coral = STRATEGIES.get("dann"), STRATEGIES.get("coral")
    cfg = apply_settings(RunConfig(), {"coral_weight": 3.0, "dann_weight": 1.0}, [dann, coral])
    assert cfg.extra == (("coral_weight", 3.0), ("dann_weight", 1.0))
    with pytest.raises(ValueError, match="dann, coral has no setting 'cut'"):
        apply_settings(RunConfig(), {"cut": 1.0}, [dann, coral])


def _registered_names(path: Path) -> list[str]:
    """The strategy names a module's ``STRATEGIES.add(Class("name", ...))`` calls register."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "STRATEGIES"):
            names.append(node.args[0].args[0].value)
    return names


def test_one_strategy_per_file_named_after_it():
    files = sorted(p for p in PACKAGE.glob("*.py") if p.stem not in NOT_STRATEGIES)
    assert {p.stem for p in files} == set(STRATEGIES.names())
    for p in files:
        assert _registered_names(p) == [p.stem], p.name
