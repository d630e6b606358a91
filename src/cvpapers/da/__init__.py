"""Routines shared by the domain-adaptation pipelines ssda_dual_mix, msda_collab and mtda_collab (plain PyTorch):
``lab`` (LAB colour transfer), ``pseudo_labels`` (BDL class-balanced pseudo labels), ``distill`` (teacher
ensemble, KD loss), ``segmenter`` (input normalisation, build / rebuild / evaluate a segmenter on image arrays),
``batches`` (seeded supervised draws and step), ``data`` (image sets from manifests), ``protocol`` (classes per
setting and the reported mIoU: SYNTHIA's 13 of 16, the embedded benchmark's mean without pole)."""
