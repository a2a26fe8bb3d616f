"""Twin acceptance: δHBV with a neural evapotranspiration slot recovers a planted law.

The twin's evapotranspiration is ``pet·(SM/FC)^0.5`` instead of HBV's ``pet·min(1, SW/lp)``.
The twin starts from empty storages (no spin-up), as the model does, so the first year
needs no warm-up. Trained on streamflow alone (all years but the last), the hybrid must
reproduce the last year's streamflow (median NSE over sites) and its network must match the
planted function over the inputs it visited (R²). The slow version learns the parameters
from attributes too (dPL) and must reach NSE >= 0.95 and R² >= 0.9; the fast one knows the
planted parameters, learns the slot only, and trains briefly.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from discover.data.synthetic import synthetic_weather
from discover.data.twin import make_twin, site_attributes
from discover.models.hbv import HBV
from discover.models.hbv_processes import FORCINGS
from discover.models.parameters import AttributeMLP
from discover.processes import Neural

PLANTED = "pet * soil_wetness**0.5"
YEAR = 365


def planted_law(pet: torch.Tensor, soil_wetness: torch.Tensor) -> torch.Tensor:
    return pet * soil_wetness.clamp(0, 1).sqrt()


def twin_tensors(n_sites: int, years: int, seed: int):
    """Forcings [time, site], streamflow, attributes [site, attr] and true parameters."""
    weather = synthetic_weather(n_sites, n_days=years * YEAR, seed=seed)
    twin = make_twin(weather, planted={"evapotranspiration": PLANTED}, seed=seed, spinup_days=0)

    def tensor(name: str) -> torch.Tensor:
        return torch.tensor(twin[name].transpose("time", "site").values, dtype=torch.float32)

    attributes = np.stack([twin[n].values for n in site_attributes(weather)], -1)
    truth = {
        name.removeprefix("true_"): torch.tensor(twin[name].values, dtype=torch.float32)
        for name in twin.data_vars
        if name.startswith("true_") and twin[name].dims == ("site",)
    }
    forcings = {name: tensor(name) for name in FORCINGS}
    return forcings, tensor("streamflow"), torch.tensor(attributes, dtype=torch.float32), truth


def nse(simulated: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Nash–Sutcliffe efficiency per site of [time, site] series."""
    error = (simulated - observed).pow(2).sum(0)
    return 1 - error / (observed - observed.mean(0)).pow(2).sum(0)


def neural_et(pet: torch.Tensor) -> Neural:
    """The evapotranspiration network, warm-started at ``pet·soil_wetness`` (textbook HBV
    with lp = 1) by regression on random inputs, as a modeller would start it."""
    network = Neural(
        ["pet", "soil_wetness"], ">=0", hidden=(32, 32), activation="softplus", output_scale=2.0
    )
    network.set_normalisation({"pet": pet, "soil_wetness": torch.linspace(0, 1, 101)})
    gen = torch.Generator().manual_seed(0)
    samples = {"pet": torch.rand(4000, generator=gen) * pet.max()}
    samples["soil_wetness"] = torch.rand(4000, generator=gen)
    target = samples["pet"] * samples["soil_wetness"]
    optimiser = torch.optim.Adam(network.parameters(), lr=0.01)
    for _ in range(400):
        loss = (network(samples) - target).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return network


def r_squared(network: Neural, inputs: torch.Tensor) -> float:
    """R² of the network against the planted law over ``inputs`` [samples, 2]."""
    with torch.no_grad():
        outputs = network.evaluate([inputs[:, 0], inputs[:, 1]])
    truth = planted_law(inputs[:, 0], inputs[:, 1])
    return float(1 - (outputs - truth).pow(2).sum() / (truth - truth.mean()).pow(2).sum())


def recover(n_sites: int, years: int, iterations: int, lr: float, learn_parameters: bool):
    """Train on all years but the last, test on the last: (test NSE per site, R² after
    training, R² of the warm start), both R² over the inputs visited in the final run."""
    torch.manual_seed(0)
    forcings, flow, attributes, truth = twin_tensors(n_sites, years, seed=1)
    model = HBV()
    network = neural_et(forcings["pet"])
    model.set_slot("evapotranspiration", network)
    trainable = list(network.parameters())
    if learn_parameters:
        learner = AttributeMLP(attributes.shape[1], model.parameter_names(), hidden=(32,))
        learner.set_normalisation(attributes)
        trainable += list(learner.parameters())

        def parameters():
            return learner(attributes)
    else:

        def parameters():
            return {name: truth[name] for name in model.parameter_names()}

    start = copy.deepcopy(network)
    end = (years - 1) * YEAR
    train = {name: value[:end] for name, value in forcings.items()}
    observed = flow[:end]
    scale = observed.var(0) + 0.01  # NSE-like, safe for sites with little flow variance
    optimiser = torch.optim.Adam(trainable, lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=iterations)
    for _ in range(iterations):
        simulated = model(train, parameters()).streamflow
        loss = ((simulated - observed).pow(2).mean(0) / scale).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()

    with torch.no_grad():
        network.start_recording()
        out = model(forcings, parameters(), warmup=end)
        inputs, outputs = network.stop_recording()
    assert torch.allclose(outputs, network.evaluate([inputs[:, 0], inputs[:, 1]]).detach())
    return nse(out.streamflow, flow[end:]), r_squared(network, inputs), r_squared(start, inputs)


def test_neural_slot_recovers_planted_evapotranspiration_fast():
    test_nse, r2, r2_start = recover(
        n_sites=50, years=2, iterations=30, lr=0.03, learn_parameters=False
    )
    assert float(test_nse.median()) >= 0.95
    assert r2 >= 0.9
    assert (1 - r2) < 0.5 * (1 - r2_start)  # at least halves the warm start's misfit


@pytest.mark.slow
def test_dpl_with_neural_slot_recovers_planted_evapotranspiration():
    test_nse, r2, r2_start = recover(
        n_sites=50, years=3, iterations=200, lr=0.01, learn_parameters=True
    )
    assert float(test_nse.median()) >= 0.95
    assert r2 >= 0.9
    assert (1 - r2) < 0.5 * (1 - r2_start)
