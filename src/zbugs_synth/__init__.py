"""zbugs-synth: synthetic data for zbugs, Rocicorp Zero's demo and load-test issue tracker."""

__version__ = "0.1.0"
