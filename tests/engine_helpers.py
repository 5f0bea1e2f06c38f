"""Small configs shared by the engine tests (tiny data, few epochs)."""

from tlcore.config import RunConfig

TINY = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=5, val_per_class=5,
                 test_per_class=20, epochs=3, batch_size=16, lr=1e-2, seed=0)


def wait_workers_ready(root, slots=(0, 1), timeout: float = 120.0) -> None:
    """Until each worker slot has imported torch (its log names its torch threads): queued
    runs then meet every worker ready, where the first to start could otherwise drain a
    queue of tiny runs before the others had imported torch."""
    import time

    from tlcore import workers

    def ready(k: int) -> bool:
        log = workers.log_path(root, k)
        return log.is_file() and "torch threads" in log.read_text()

    deadline = time.time() + timeout
    while time.time() < deadline and not all(ready(k) for k in slots):
        time.sleep(0.2)
