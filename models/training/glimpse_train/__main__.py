"""`python -m glimpse_train <command> [args]` — commands:

  eval-reference   reference STSTNet weights, fold by fold (must give UF1 0.7209 / UAR 0.7250)
  loso             one LOSO run: --recipe {ststnet,f5cnet,f5cnet_v2,ststnet_v2,f5cnet_v3,f5cnet_v4,f5cnet_v5,mer_v6,f5cnet_v7} --seed N
  eval             all LOSO runs (3 seeds x every recipe), the table and reports/loso_report.json
  export           final model on all 442 samples -> models/mer.onnx + models/mer.golden.json
  mer-synth        synthetic micro-expression motion from faces (action units) -> cache/mer_synth.npz
  mer-pretrain     pretrain F5CNet on it (recipe f5cnet_v4's starting weights) -> cache/mer_pretrained.pt
  make-fixture     regenerate fixtures/preprocess_* (synthetic onset/apex pair, flow, tensor)
  landmarks-teacher  fit the MediaPipe 468->68 map on 300-W train, pseudo-label LFW (cache/)
  landmarks-train    train the 68-point landmark model -> cache/landmarks_*.pt
  landmarks-export   -> models/landmarks.onnx + models/landmarks.golden.json
  landmarks-eval     NME on 300-W helen_test and YTF test (ours and the teacher), speed
  landmarks-jitter   landmark jitter on still faces from frames.csv written by `glimpse analyse`
  flow-train       train the optical-flow model on synthesised face pairs -> cache/flow_*.pt
  flow-export      -> models/flow.onnx + models/flow.golden.json
  flow-eval        EPE and time per pair on the held-out pairs: ours, DIS, Farneback, Dual TV-L1
  flow-time        the flow model(s) alone through onnxruntime, 1 and 2 threads (no data needed)
  flow-synth-eval  EPE of flow model(s) on the synthetic pairs `glimpse eval flow --save-pairs` wrote
  flow-step-variants  diagnostic: the second full-resolution step's window and damping changed, untrained
  selection-bias   diagnostic: LOSO scores when the epoch is chosen on the test subject (never a recipe)
  blink-spill      brow motion in blinks, per flow method, from `glimpse eval spotting --work` folders
"""
import sys

COMMANDS = {"eval-reference": "eval_reference", "loso": "loso", "eval": "eval", "export": "export",
            "make-fixture": "make_fixture", "mer-synth": "mer_synth", "mer-pretrain": "mer_pretrain",
            "landmarks-teacher": "landmarks_teacher", "landmarks-train": "landmarks_train",
            "landmarks-export": "landmarks_export", "landmarks-eval": "landmarks_eval",
            "landmarks-jitter": "landmarks_jitter",
            "flow-train": "flow_train", "flow-export": "flow_export", "flow-eval": "flow_eval",
            "flow-time": "flow_time", "flow-synth-eval": "flow_synth_eval",
            "flow-step-variants": "flow_step_variants", "blink-spill": "blink_spill",
            "selection-bias": "selection_bias"}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        raise SystemExit(2)
    import importlib

    mod = importlib.import_module(f"glimpse_train.{COMMANDS[sys.argv[1]]}")
    sys.argv = [f"glimpse_train {sys.argv[1]}"] + sys.argv[2:]
    raise SystemExit(mod.main())


if __name__ == "__main__":
    main()
