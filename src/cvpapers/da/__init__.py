"""Routines shared by the domain-adaptation pipelines ssda_dual_mix, msda_collab and mtda_collab (plain PyTorch):
``lab`` (LAB colour transfer, and its statistics accumulated over a stream), ``pseudo_labels`` (BDL
class-balanced pseudo labels; histograms summed batch by batch for real data), ``distill`` (teacher ensemble, KD
loss), ``segmenter`` (input normalisation, build / rebuild / evaluate a segmenter on image arrays or on a stream
of full-resolution images, sliding window), ``batches`` (seeded supervised draws and step), ``data`` (image sets
from manifests), ``streams`` (real image sets read lazily: the reader with the papers' resizing and LAB on the
fly, mixed-batch datasets, the bridge from streamed batches to the iteration loop), ``protocol`` (classes per
setting and the reported mIoU: SYNTHIA's 13 of 16, the embedded benchmark's mean without pole)."""
