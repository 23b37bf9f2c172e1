"""Training, evaluation and export of the digitscan CNN (needs TensorFlow: `pip install .[train]`)."""
