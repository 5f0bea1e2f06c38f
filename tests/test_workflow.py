"""The workflow diagram on Home: what its boxes say, where its links go, and escaping.

Oracles: the group states are checked against the freeze module applied epoch by epoch
to a built network (a different path from ``estimate.plan``'s merged phases), and
against what each strategy is defined to do; links against the pages ``app.py``
registers; the links' queries against ``urlstate``'s own parser.
"""

from __future__ import annotations

import io
import re
import zipfile
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.page_helpers import APP
from tlcore.config import RunConfig
from tlcore.estimate import plan
from tlcore.freeze import apply_phase
from tlcore.models import BACKBONES, build_backbone
from tlcore.strategies import STRATEGIES
from tlcore.urlstate import config_from_params
from tlcore.workflow import domain_label, group_states, workflow
from ui.workflow import PAGES, compact, link_params, workflow_svg, wrap

ROOT = Path(__file__).resolve().parent.parent
LAB = "lab_synth_digits"  # groups stem, block1, block2, block3, head


def _svg(cfg: RunConfig, current: dict[str, str] | None = None, **kw) -> str:
    return workflow_svg(workflow(cfg, plan(cfg), **kw), link_params(cfg, current or {}))


def _hrefs(svg: str) -> dict[str, str]:
    """Each box's link without the workspace code, which links drawn in the app carry (a
    followed link stays in the session's workspace)."""
    links = {m[1]: unescape(m[0]) for m in re.findall(r'<a href="([^"]*)" target="_self" data-step="(\w+)"', svg)}
    return {k: re.sub(r"ws=[^&]*&?", "", h).rstrip("?&") for k, h in links.items()}


def _texts(svg: str) -> list[str]:
    return [unescape(t) for t in re.findall(r"<text [^>]*>([^<]*)</text>", svg)]


def _registered_pages() -> set[str]:
    """url paths of the pages app.py's navigation serves (a file's stem unless url_path)."""
    paths = set()
    for m in re.finditer(
        r'st\.Page\("app_pages/(\w+)\.py"([^)]*)\)', (ROOT / "app.py").read_text()
    ):
        assert (ROOT / "app_pages" / f"{m[1]}.py").is_file()
        explicit = re.search(r'url_path="(\w+)"', m[2])
        paths.add(explicit[1] if explicit else m[1])
    return paths


@pytest.mark.parametrize(
    ("strategy", "changes", "expected"),
    [
        (
            "feature_extraction",
            {},
            {g: ("frozen", None) for g in ("stem", "block1", "block2", "block3")},
        ),
        (
            "finetune_top",
            {"top_k": 2},
            {
                "stem": ("frozen", None),
                "block1": ("frozen", None),
                "block2": ("trains", 1),
                "block3": ("trains", 1),
            },
        ),
        ("finetune_all", {}, {g: ("trains", 1) for g in ("stem", "block1", "block2", "block3")}),
        (
            "custom",
            {"trainable_groups": ("block1",)},
            {
                "stem": ("frozen", None),
                "block1": ("trains", 1),
                "block2": ("frozen", None),
                "block3": ("frozen", None),
            },
        ),
        # one more group from the top each epoch: block3 at epoch 2, ... stem at epoch 5
        (
            "gradual_unfreeze",
            {"epochs": 6},
            {
                "stem": ("later", 5),
                "block1": ("later", 4),
                "block2": ("later", 3),
                "block3": ("later", 2),
            },
        ),
        (
            "lp_ft",
            {"probe_epochs": 3, "epochs": 5},
            {g: ("later", 4) for g in ("stem", "block1", "block2", "block3")},
        ),
        ("bitfit", {}, {g: ("partly", 1) for g in ("stem", "block1", "block2", "block3")}),
        ("scratch", {}, {g: ("trains", 1) for g in ("stem", "block1", "block2", "block3")}),
    ],
)
def test_group_states_match_each_strategys_definition(strategy, changes, expected):
    cfg = RunConfig(backbone=LAB, strategy=strategy, **changes)
    got = {g.name: (g.state, g.first_epoch) for g in group_states(cfg, plan(cfg))}
    assert got == expected


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(backbone=LAB, strategy="gradual_unfreeze", epochs=4),
        RunConfig(backbone=LAB, strategy="bn_only"),
        RunConfig(backbone=LAB, strategy="feature_extraction", bn_policy="affine"),
        RunConfig(
            backbone="lab_fashion_b", dataset="fashion_mnist_a", strategy="finetune_top", top_k=3
        ),
    ],
)
def test_group_states_agree_with_the_freeze_module_epoch_by_epoch(cfg):
    """Oracle: build the net, apply each epoch's phase, and look at requires_grad."""
    net = build_backbone(cfg.backbone, weights="none").net
    strategy = STRATEGIES.get(cfg.strategy)
    first_trains: dict[str, int] = {}
    fully: dict[str, bool] = {}
    for epoch in range(cfg.epochs):
        apply_phase(net, strategy.phase(net.group_names, cfg, epoch), cfg.bn_policy)
        for g in net.group_names[:-1]:
            grads = [p.requires_grad for p in net.group(g).parameters()]
            if any(grads) and g not in first_trains:
                first_trains[g], fully[g] = epoch + 1, all(grads)
    for g in group_states(cfg, plan(cfg)):
        assert g.first_epoch == first_trains.get(g.name)
        if g.first_epoch == 1:
            assert (g.state == "trains") == fully[g.name]
    assert {g.name for g in group_states(cfg, plan(cfg))} == set(net.group_names[:-1])


def test_partial_training_says_what_trains():
    notes = {
        s: group_states(c, plan(c))[0].note
        for s, c in {
            "bias": RunConfig(backbone=LAB, strategy="bitfit"),
            "bn": RunConfig(backbone=LAB, strategy="bn_only"),
            "policy": RunConfig(backbone=LAB, bn_policy="train"),
        }.items()
    }
    assert notes == {
        "bias": "biases train",
        "bn": "BatchNorm trains",
        "policy": "BN scale/shift train",
    }


def test_the_setups_choices_are_written_into_the_boxes():
    cfg = RunConfig(
        backbone=LAB, dataset="mnist", labels_per_class=7, strategy="finetune_top", top_k=1
    )
    texts = " | ".join(_texts(_svg(cfg)))
    for fragment in (
        "Pretrained backbone: lab_synth_digits",
        "font-rendered digits",
        "dataset synth_digits",
        "mnist · 7 labels per class",
        "10 classes → 70 labelled training images",
        "Linear 128 → 10",
        "1,290 new parameters",
        "Fine-tune top k",
        "15 epochs",
        "3 of 4 stay frozen",
        "not trained yet",
    ):
        assert fragment in texts, fragment
    p = plan(cfg)
    assert f"{p.total_params:,} parameters; {p.phases[0].trainable_params:,}" in texts
    chips = _texts(_svg(cfg))
    for name in ("stem", "block1", "block2", "block3"):
        assert name in chips


def test_torchvision_backbone_names_its_imagenet_weights_and_five_groups():
    cfg = RunConfig(backbone="resnet18", strategy="finetune_top", top_k=1)
    wf = workflow(cfg, plan(cfg))
    assert [g.name for g in wf.groups] == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert wf.steps["source"].lines[0].startswith("ImageNet-1k (IMAGENET1K_V1)")
    assert [g.state for g in wf.groups] == ["frozen"] * 4 + ["trains"]


def test_scratch_and_random_weights_transfer_nothing():
    for cfg in (
        RunConfig(backbone=LAB, strategy="scratch"),
        RunConfig(backbone=LAB, strategy="finetune_all", weights="none"),
    ):
        wf = workflow(cfg, plan(cfg))
        assert wf.steps["source"].off and not wf.steps["backbone"].off
        assert "nothing is transferred" in wf.steps["source"].lines[0]
        assert wf.steps["backbone"].title == f"Backbone: {LAB}, random init"


def test_target_domain_role_follows_the_strategy():
    def role(strategy):
        cfg = RunConfig(backbone=LAB, strategy=strategy, target="mnist_m")
        return next(
            ln for ln in workflow(cfg, plan(cfg)).steps["data"].lines if ln.startswith("target")
        )

    assert role("feature_extraction") == "target mnist_m: scored on, never trained on"
    assert role("dann") == "target mnist_m: its unlabelled images adapt the features"
    assert role("target_oracle") == "target mnist_m: the oracle trains on its labels"
    no_target = RunConfig(backbone=LAB, strategy="dann")
    assert workflow(no_target, plan(no_target)).steps["data"].alert == "DANN needs a target domain"


def test_missing_weights_and_unknown_names_are_said_not_raised():
    missing = RunConfig(backbone="resnet50")  # no offline copy of these weights ships
    if BACKBONES.get("resnet50").weights["imagenet1k_v1"].check().available:
        pytest.skip("resnet50's weights are on this machine")
    assert "weights not on this machine" in workflow(missing, plan(missing)).steps["source"].alert
    for cfg, alert in (
        (RunConfig(backbone="nope"), "unknown backbone 'nope'"),
        (RunConfig(strategy="zzz"), "unknown strategy 'zzz'"),
    ):
        wf = workflow(cfg, None)
        assert all(step.alert == alert for step in wf.steps.values()) and wf.groups == ()
        assert alert.replace("'", "&#x27;") in workflow_svg(wf, {})


def test_every_link_opens_a_registered_page_with_the_setup_kept():
    cfg = RunConfig(
        backbone="lab_mnist",
        dataset="digits",
        labels_per_class=5,
        strategy="custom",
        trainable_groups=("block2", "block3"),
        seed=3,
    )
    hrefs = _hrefs(_svg(cfg, {"lesson": "2", "epochs": "999999"}))
    assert set(hrefs) == set(PAGES)
    assert {urlsplit(h).path for h in hrefs.values()} <= _registered_pages()
    assert urlsplit(hrefs["data"]).path == "data" and urlsplit(hrefs["use"]).path == "try_it"
    for href in hrefs.values():
        params = dict(parse_qsl(urlsplit(href).query))
        assert params.pop("lesson") == "2"  # a parameter that is not a config field stays
        restored, notices = config_from_params(params)
        assert restored == cfg and not notices  # the stale epochs=999999 was not passed on


def test_default_setup_links_carry_no_query():
    hrefs = _hrefs(_svg(RunConfig()))
    assert hrefs["data"] == "data" and hrefs["model"] == "train"


def test_user_text_is_escaped():
    evil = '<img src=x onerror="alert(1)">&'
    cfg = RunConfig(backbone=LAB, dataset=evil)
    wf = workflow(cfg, None, plan_error=f"cannot read {evil}")
    svg = workflow_svg(wf, link_params(cfg, {"x": '"><script>alert(2)</script>'}))
    assert "<img" not in svg and "<script" not in svg and 'onerror="' not in svg
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in svg
    assert "could not be listed: cannot read" in " ".join(_texts(svg))


def test_an_upload_shows_its_own_file_name(tmp_data_dir):
    from tlcore.preview import ingest_upload

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls, colour in {"cat": (255, 0, 0), "dog": (0, 0, 255)}.items():
            for i in range(3):
                img = io.BytesIO()
                Image.new("RGB", (16, 16), colour).save(img, format="PNG")
                zf.writestr(f"{cls}/{i}.png", img.getvalue())
    path, _ = ingest_upload(buf.getvalue(), "<b>pets</b>.zip")
    assert domain_label(path) == "<b>pets</b>.zip (upload)"
    assert domain_label(path + ":rotate=2") == "<b>pets</b>.zip (upload) (rotate 2)"
    cfg = RunConfig(backbone=LAB, dataset=path, labels_per_class=2)
    svg = _svg(cfg)
    assert "&lt;b&gt;pets&lt;/b&gt;.zip (upload) · 2 labels per class" in svg and "<b>" not in svg
    assert "2 classes → 4 labelled training images" in _texts(svg)


def test_markup_is_one_raw_html_block():
    """No newline at all: Markdown would end the HTML block at a blank line and turn the
    rest into text (or an indented line into a code block)."""
    for cfg in (
        RunConfig(),
        RunConfig(backbone="mobilenet_v2", strategy="lp_ft", target="mnist:rotate=3"),
    ):
        svg = _svg(cfg)
        assert "\n" not in svg and svg.startswith('<div class="tl-workflow"><svg')
        assert svg.count("<a ") == svg.count("</a>") == len(PAGES)


def test_wrap_respects_width_and_line_count():
    text = "target mnist_m: its unlabelled images adapt the features of the pretrained backbone"
    for width in (60, 120, 300):
        lines = wrap(text, width, 14, max_lines=2)
        n = int(width / (14 * 0.47))
        assert 1 <= len(lines) <= 2 and all(len(ln) <= n for ln in lines)
    assert wrap(text, 2000, 14) == [text]
    long_name = wrap("x" * 50, 70, 14, 2)  # a long file name is split and cut, never overflows
    assert (
        len(long_name) == 2
        and long_name[-1].endswith("…")
        and all(len(ln) <= 10 for ln in long_name)
    )
    assert [compact(n) for n in (696, 17088, 999999, 8393728)] == ["696", "17.1k", "1M", "8.39M"]


@pytest.fixture
def home(tmp_data_dir):
    def run(params: dict[str, str]) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params.update(params)
        at.run()
        assert not at.exception, at.exception
        return at

    return run


def _diagram(at: AppTest) -> str:
    return next(m.value for m in at.markdown if 'class="tl-workflow"' in m.value)


def test_home_draws_the_diagram_for_the_url_setup(home):
    at = home({"backbone": "lab_mnist", "strategy": "finetune_all", "labels_per_class": "3"})
    svg = _diagram(at)
    assert f"ws={at.session_state['tl_ws']}" in svg  # a followed box stays in this workspace
    assert "Pretrained backbone: lab_mnist" in svg and "mnist · 3 labels per class" in svg
    assert "0 of 4 stay frozen" in svg
    assert (
        _hrefs(svg)["model"] == "train?backbone=lab_mnist&strategy=finetune_all&labels_per_class=3"
    )


def test_home_explains_a_plan_that_cannot_be_made(home):
    at = home({"strategy": "custom", "trainable_groups": "nope"})
    assert "could not be listed:" in _diagram(at) and "unknown layer groups" in _diagram(at)
    # a link naming no registered backbone is refused by the URL parser (with a notice), so
    # the diagram draws the default backbone instead of an error
    bad = home({"backbone": "nope"})
    assert "Pretrained backbone: lab_synth_digits" in _diagram(bad)
    assert any("no such backbone" in w.value for w in bad.warning)


@pytest.mark.slow
def test_home_says_when_the_setups_model_is_stored(home, tmp_data_dir):
    """A real (tiny) run: once it is done, the Trained model box says so."""
    from tlcore.jobs import execute
    from tlcore.runs import Store

    from .engine_helpers import TINY

    store = Store(tmp_data_dir)
    rid, _ = store.submit(TINY)
    execute(store, rid)
    assert store.has_model(rid)
    params = {
        "backbone": TINY.backbone,
        "dataset": TINY.dataset,
        "labels_per_class": "5",
        "val_per_class": "5",
        "test_per_class": "20",
        "epochs": "3",
    }
    assert "trained: stored with its run" in _diagram(home(params))
    assert "not trained yet" in _diagram(home({**params, "seed": "1"}))
