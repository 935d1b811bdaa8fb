"""The merit-order mode: each step's contract net between the aggregator and its sites,
optionally after selling the fleet's flexibility day-ahead (``market``) or bidding a CVaR
plan (``plan``)."""
