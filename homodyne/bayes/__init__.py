"""The Bayesian (MCMC) layer, independent of any sampling stack.

Both MCMC backends, PyMC on the CPU (:mod:`homodyne.optimization.mcmc_cpu_backend`) and
NumPyro/JAX (:mod:`homodyne.optimization.mcmc_gpu_backend`), sample the *same* posterior,
built from the same pieces, one module per concept:

* :mod:`.settings`: the sampler settings (the ``mcmc`` configuration section);
* :mod:`.prepare`: the problem to sample (the seed API's ``analysis_core``) and the data
  reduction report;
* :mod:`.priors`: one truncated prior per free physical parameter (uniform priors on the
  per-angle contrast and offset, a weak log-normal prior on the noise multiplier
  ``sigma_scale``: c2 ~ Normal(model, sigma_scale · σ_angle));
* :mod:`.start`: the starting point (a classical fit or the configured values) and the
  chains' initial points;
* :mod:`.space`: the reparameterisation: each sampled quantity is mapped to an unbounded
  coordinate (logit of its position inside its bounds, in log space for positive
  parameters whose bounds span two decades or more), and the vector of these coordinates
  is whitened with the inverse square root of the Gauss-Newton (Fisher) information at
  the starting point. NUTS then explores a nearly isotropic unit-scale posterior. The map
  is a smooth bijection with its log-Jacobian added to the log density, so the posterior
  of the physical parameters is exactly the one defined by the priors and the likelihood;
* :mod:`.posterior`: the posterior specification a backend builds its model from, and
  the Gaussian log-likelihood both backends use;
* :mod:`.idata`: the ArviZ InferenceData, with the same variables for every backend;
* :mod:`.diagnostics`: posterior statistics and the convergence verdict;
* :mod:`.result`: :class:`~homodyne.bayes.result.MCMCResult`, what every backend returns;
* :mod:`.plots`: trace, corner and posterior-predictive residual plots;
* :mod:`.sampler`: the backend record registered under the entry-point group
  ``homodyne.mcmc_backends``;
* :mod:`.run`: the orchestration shared by every backend.

No module here imports a sampling stack (PyMC/PyTensor, JAX/NumPyro) at any level; ArviZ
and matplotlib are imported inside the functions that need them.
"""
