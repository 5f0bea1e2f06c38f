"""Transfer measures and the strategy advisor built on them.

Domain distances (``domain``), transferability scores (``scores``), the domain-adaptation
study (``adapt_study``), and the advisor: the grid of classic rules (``rules``), what it
reports (``advice_types``), cached pretrained features (``backbone_features``), backbone
ranking (``scoring``), size and similarity (``similarity``), the advice (``advisor``) and its
check against real runs (``check``); the learned advisor: the meta-dataset of transfer
outcomes (``meta``) and its collection (``collect``), the model (``learned``), its
leave-one-dataset-out track record (``lodo``) and its advice on one task (``learned_advice``).
"""
