"""ResNet-18 (He et al. 2016, arXiv:1512.03385) from torchvision 0.14's definition,
randomly initialised (no weights are downloaded), trained and served on synthetic 3x224x224 images
with 1000 classes: cross-entropy loss, SGD with momentum 0.9. A Fulcrum workload folder
(docs/WORKLOADS.md); the loop is fulcrum_torch's (the Python worker's helpers).
"""
import torchvision
from fulcrum_torch import SyntheticImageClassifier


class FulcrumWorkload(SyntheticImageClassifier):
    input_shape = (3, 224, 224)
    classes = 1000

    def build_model(self):
        return torchvision.models.resnet18(weights=None, num_classes=self.classes)
