"""Small configs shared by the engine tests (tiny data, few epochs)."""

from tlcore.config import RunConfig

TINY = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=5, val_per_class=5,
                 test_per_class=20, epochs=3, batch_size=16, lr=1e-2, seed=0)
