"""The verl adapter as verl uses it: loaded by file path (custom_reward_function.path, exactly as
verl's get_custom_reward_fn does it) in a fresh process, and called as verl's batch reward manager
calls it, with numpy object arrays (issue 12)."""
import json
import subprocess
import sys
from pathlib import Path

ADAPTER = Path(__file__).resolve().parents[2] / "verifiers" / "mmrl_verifiers" / "adapters.py"

VERL = r'''
import importlib.util, json, sys
import numpy as np

if __name__ == "__main__":  # the pool's spawned workers import this file again

    # verl/trainer/ppo/reward.py::get_custom_reward_fn: the file becomes the module "custom_module"
    spec = importlib.util.spec_from_file_location("custom_module", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    spec.loader.exec_module(module)
    reward_kwargs = {"verifier": "math"}                     # custom_reward_function.reward_kwargs
    raw_fn = getattr(module, sys.argv[2])
    fn = lambda *args, **kwargs: raw_fn(*args, **kwargs, **reward_kwargs)

    # verl/workers/reward_manager/batch.py::verify: non_tensor_batch columns are numpy object arrays
    # (a parquet list column arrives as an array: here the mcq choices)
    data_sources = np.array(["gsm8k", "gsm8k", "mathvista", "geo", "gsm8k"], dtype=object)
    responses = [r"so \boxed{4}", r"so \boxed{5}", r"\boxed{6 cm}", r"\boxed{6}", r"\boxed{1}"]
    ground_truths = [np.str_("4"), "4", np.str_("B"), "6", r"\boxed{}"]
    extras = np.array([{"index": 0}, {"index": 1},
                       {"index": 2, "verifier": "mcq", "verifier_options": {"choices": np.array(["3 cm", "6 cm"], dtype=object)}},
                       {"index": 3, "verifier_options": {"answer_format": np.str_("boxed")}}, {"index": 4}],
                      dtype=object)
    for i in range(len(extras)):
        extras[i]["rollout_reward_scores"] = {}
    if sys.argv[2] == "compute_score_batch":
        scores = fn(data_sources=data_sources, solution_strs=responses, ground_truths=ground_truths, extra_infos=extras)
    else:  # the naive reward manager: one call per response
        scores = [fn(data_source=d, solution_str=r, ground_truth=g, extra_info=e)
                  for d, r, g, e in zip(data_sources, responses, ground_truths, extras)]
    print(json.dumps(scores))
'''


def verl_scores(tmp_path, name: str) -> list[dict]:
    script = tmp_path / "verl_loader.py"
    script.write_text(VERL)
    out = subprocess.run([sys.executable, str(script), str(ADAPTER), name], capture_output=True, text=True,
                         timeout=180, cwd=tmp_path)  # not the repo: nothing found by being beside it
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def check(scores: list[dict]) -> None:
    assert [s["score"] for s in scores] == [1.0, 0.1, 1.0, 1.0, 0.0]
    assert [s["acc"] for s in scores] == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert [s["judged"] for s in scores] == [1.0, 1.0, 1.0, 1.0, 0.0]   # the broken gold was not judged
    assert all(isinstance(v, float) for s in scores for v in s.values())  # verl averages every key


def test_batch_form_loaded_by_path_takes_numpy_object_arrays(tmp_path):
    check(verl_scores(tmp_path, "compute_score_batch"))


def test_single_form_loaded_by_path(tmp_path):
    check(verl_scores(tmp_path, "compute_score"))
