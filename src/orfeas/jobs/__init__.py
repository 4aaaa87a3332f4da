"""Jobs: what was asked, where it stands, and who runs it.

``states`` is the job state machine (one module); ``db`` and ``store`` keep jobs in SQLite or
PostgreSQL (versioned schema), ``files`` keeps their files (a local or shared directory behind a
small interface), ``cache`` answers identical submissions with an earlier result; ``worker`` and
``runner`` run jobs on this machine, ``distributed`` hands them to Celery workers on others.
Nothing here knows about HTTP.
"""
