"""BERT-base (Devlin et al. 2019, arXiv:1810.04805: 12 layers, hidden 768, 12 heads, FFN 3072,
GELU, post-LayerNorm) for sequence classification, built from nn.Embedding and
nn.TransformerEncoder (fulcrum_torch's TransformerEncoderClassifier): token + position + segment
embeddings, the encoder, BERT's pooler (dense + tanh on token 0) and a 2-class head. Randomly initialised; trained and served on synthetic 128-token
sequences (vocabulary 30522) with cross-entropy and AdamW. A Fulcrum workload folder
(docs/WORKLOADS.md).
"""
from fulcrum_torch import SyntheticSequenceClassifier, TransformerEncoderClassifier

LAYERS, HIDDEN, HEADS = 12, 768, 12


class FulcrumWorkload(SyntheticSequenceClassifier):
    vocab, sequence, classes = 30522, 128, 2

    def build_model(self):
        return TransformerEncoderClassifier(LAYERS, HIDDEN, HEADS, vocab=self.vocab, classes=self.classes)
