"""The ADMM mode (``coordination: admm``): sites plan each window by ADMM over messages,
then deliver it step by step; ``sites`` maps a scenario's devices onto the ADMM site
model."""
