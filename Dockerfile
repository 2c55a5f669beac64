FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home opsconsole && chown -R opsconsole /app
USER opsconsole
EXPOSE 8000
CMD ["gunicorn", "opsconsole.wsgi:application", "--config", "python:opsconsole.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "3"]
