"""Reports: the numpy engine (``engine``), one module per report kind (``kinds``), their pages and exports
(``views``), the closed-day result cache and background jobs (docs/reports-engine.md)."""
