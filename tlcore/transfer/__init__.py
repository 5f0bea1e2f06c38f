"""Transfer measures: domain distances now; transferability scores and the advisor later."""
