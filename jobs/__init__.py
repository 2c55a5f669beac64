"""Job plumbing, the base every app queues work through.

Job specs and the schedule upsert (`specs`, `schedule`), beat's heartbeat (`beat`), the job
history model (`models.JobRun`) written from Celery's signals (`signals`), lateness
(`selectors`), and `services.job_enqueue`: the one way to queue work, which records the run
before publishing it on commit. Imports no domain app.
"""
