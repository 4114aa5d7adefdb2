"""Learned behaviour: per-fleet models of normal trip segments, their features, training and storage."""
