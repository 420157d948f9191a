"""Regenerates this folder's model.onnx and weights.pt from ../digits-classifier.

Trains the classifier there exactly as Fulcrum would (its FulcrumWorkload: 300 minibatches of 32,
Adam 1e-3, seed 0, on the CPU), prints its held-out accuracy, then writes

* weights.pt  - the trained model's state dict, which workload.py (the Python path) loads;
* model.onnx  - the same model for onnxruntime (the manifest's infer.onnx): input "input"
  float32 [batch, 1, 8, 8], output "logits" [batch, 10], the batch dimension dynamic, opset 13.

Run from anywhere (about 5 s on a CPU; torch.onnx.export needs no `onnx` package):

    /usr/bin/python3 examples/workloads/digits-onnx/export.py
"""
import importlib.util
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSIFIER = os.path.join(HERE, "..", "digits-classifier", "workload.py")
STEPS, BATCH, SEED, LR = 300, 32, 0, 1e-3


def load_classifier():
    spec = importlib.util.spec_from_file_location("digits_classifier_workload", CLASSIFIER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    classifier = load_classifier()
    workload, last = classifier.trained(steps=STEPS, batch_size=BATCH, seed=SEED, lr=LR)
    accuracy = classifier.test_accuracy(workload)
    print(f"trained {STEPS} steps of {BATCH}: last loss {last['loss']:.3f}, held-out accuracy {accuracy:.3f}")

    model = workload.model.cpu().eval()
    weights = os.path.join(HERE, "weights.pt")
    torch.save(model.state_dict(), weights)

    onnx_path = os.path.join(HERE, "model.onnx")
    example = torch.zeros(2, 1, 8, 8)
    torch.onnx.export(
        model,
        example,
        onnx_path,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13,
        do_constant_folding=True,
    )
    print(f"wrote {os.path.relpath(weights)} ({os.path.getsize(weights)} bytes) and {os.path.relpath(onnx_path)} ({os.path.getsize(onnx_path)} bytes)")

    # The Python path (this folder's workload.py on weights.pt) must answer what the trained model does.
    _, _, test_x, test_y = classifier.load_split()
    inputs = classifier.to_input(test_x)
    spec = importlib.util.spec_from_file_location("digits_onnx_workload", os.path.join(HERE, "workload.py"))
    served = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(served)
    check = served.served()
    same = np.array_equal(check.infer(inputs).argmax(1).numpy(), workload.infer(inputs).argmax(1).numpy())
    if not same:
        sys.exit("workload.py on weights.pt does not answer what the trained model does: is its DigitsNet still ../digits-classifier's?")


if __name__ == "__main__":
    main()
