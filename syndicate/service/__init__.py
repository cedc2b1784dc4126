"""The service: the processes that run syndicate, and what each does to itself. No I/O here.

``scheduler``  the worker's APScheduler and file-watcher wiring around the Publisher
``supervise``  ``serve``'s child worker, its ready signal and the one-scheduler lock
``server``     ``serve``'s web tier: granian on a socket of its own
``process``    what a process does to itself: exit without teardown, no cyclic
               collection, signals to an event, malloc arenas, dying with its parent

Import the module you need: this face imports none of them, so a web process that needs
one constant of ``server`` does not pay for the scheduler.
"""
