"""Command-line tools beside the main job: the model zoo page generator and the scaling-grid search."""
