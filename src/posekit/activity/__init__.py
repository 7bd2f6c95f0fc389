"""Activity recognition from poses (and images): features, classifiers, the two-stage image + pose CNN.

Heavy dependencies (scikit-learn, torch) are imported inside the modules that need them.
"""
