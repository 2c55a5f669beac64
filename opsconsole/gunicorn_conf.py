"""Gunicorn settings shared by the demo, the Dockerfile and docker-compose (`--config python:opsconsole.gunicorn_conf`).

The access log names the path without its query string: the OAuth callback's query carries the
authorization `code` and `state`, which are credentials until used and never belong in a log.
"""

accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Each process its own control socket path (or none): two servers on one machine never collide.
control_socket_disable = True
