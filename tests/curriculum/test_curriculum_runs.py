"""Short real runs (SmolLM2 on the HF engine, 2 steps) of the curriculum options: their metrics are
logged in metrics.jsonl and DUMP's state survives in the checkpoint. One run carries both dynamic
sampling and DUMP (they compose; it also keeps the suite short)."""
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_runs import ROOT, TINY, metrics, train  # noqa: E402

from mmrl.curriculum import DUMPSampler

pytestmark = pytest.mark.integration
MIX = ("data.generate.mix=[{name: easy, task: chain_sum, config: {min_terms: 2, max_terms: 2, min_digits: 1, "
       "max_digits: 1}}, {name: hard, task: chain_sum, config: {min_terms: 5, max_terms: 5, min_digits: 4, "
       "max_digits: 4}}]")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    # high=0.0 with the strict filter keeps no group: every round is spent and the step still completes
    out = tmp_path_factory.mktemp("curriculum") / "run"
    train(TINY, out, "training.steps=2", MIX, "curriculum.dump.enabled=true",
          "curriculum.dynamic_sampling.enabled=true", "curriculum.dynamic_sampling.high=0.0",
          "curriculum.dynamic_sampling.max_rounds=2")
    return out


def test_dynamic_sampling_spends_its_rounds_and_never_aborts(run):
    m = metrics(run)
    for step in (1, 2):
        assert m[step]["dynamic_sampling/rounds"] == 2
        assert m[step]["dynamic_sampling/groups_seen"] == 4  # 2 rounds x 2 prompts
        assert m[step]["dynamic_sampling/groups_kept"] == 0
        assert m[step]["dynamic_sampling/short_by"] == 2
        assert m[step]["update/skipped"] == 1


def test_dump_probabilities_are_logged_every_step_and_match_the_saved_state(run):
    m = metrics(run)
    ps = [{k[len("dump/p/"):]: v for k, v in m[step].items() if k.startswith("dump/p/")} for step in (1, 2)]
    for p in ps:
        assert set(p) == {"easy", "hard"}
        assert math.isclose(sum(p.values()), 1.0, abs_tol=1e-6)
    import torch
    state = torch.load(run / "checkpoints" / "step_2" / "trainer_state_rank0.pt", weights_only=False)
    dump = state["curriculum"]["dump"]
    assert sum(dump["seen"].values()) == 2 * 2 * 2 * 4  # steps x rounds x prompts x n: every response counts
    sampler = DUMPSampler(["easy", "hard"])  # the recipe defaults: window 300, tau 0.1, exploration 1
    sampler.load_state_dict(dump)
    assert sampler.probabilities() == pytest.approx(ps[1])


def test_clpo_counts_are_logged(tmp_path):
    run = tmp_path / "clpo"
    train(TINY, run, "checkpoint.every=0", "algorithm.params.beta=0.001", "curriculum.clpo.enabled=true",
          "curriculum.clpo.rewrite_max_tokens=48")
    m = metrics(run)
    for step in (1, 2):
        row = m[step]
        assert row["clpo/hard"] + row["clpo/medium"] + row["clpo/easy"] == 2  # every prompt bucketed
        assert row["clpo/rewrites_asked"] == row["clpo/hard"] + row["clpo/medium"]  # mode "both"
        assert 0 <= row["clpo/rewrites_valid"] <= row["clpo/rewrites_asked"]
        kept = row["clpo/rewritten_hard_kept"] + row["clpo/rewritten_medium_kept"] + row["clpo/original_kept"]
        assert row["groups/kept"] == (kept or 2)  # nothing informative: the full original batch
        assert "kl" in row


def test_aepo_gui_grounding_run_logs_its_reward(tmp_path):
    run = tmp_path / "aepo"
    train(ROOT / "recipes" / "aepo.yaml", run, "training.steps=2", "rollout.engine=hf", "rollout.prompts_per_step=2",
          "rollout.max_new_tokens=24", "backbone.dtype=float32", "data.generate.train_size=8",
          "data.generate.held_out_size=0", "logging.console=false", "checkpoint.export=false", "checkpoint.every=0",
          "verifiers.workers=1")
    m = metrics(run)
    for step in (1, 2):
        assert -1.0 <= m[step]["reward/aepo"] <= 2.0
        assert sum(v for k, v in m[step].items() if k.startswith("verdict/")) == 2 * 4  # every response judged
