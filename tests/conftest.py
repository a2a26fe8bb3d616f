"""Suite-wide settings: the models under test use small tensors in long loops, where one
thread is faster than two that wait on each other."""

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)
