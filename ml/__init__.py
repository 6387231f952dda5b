"""Machine-learning models (personas, churn, lifetime value, recommendations): plain Python, no Dagster."""
