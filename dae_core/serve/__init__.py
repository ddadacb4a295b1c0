"""Serving: runs and analyses as Ray jobs, run folders on disk, the runs folder's bound.

The web server reaches Ray only through the job server's HTTP API (ray_jobs), so no fault of Ray
can end it; this package is the only one that starts or speaks to Ray."""
