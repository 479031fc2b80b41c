"""Plain SQL over the result tables, as a lab member would type it, and a client to run it.

The queries are written once here; the README prints them (with the default prefix
``cotrain_``) and the tests run them through ``mysql-connector-python`` (MySQL, MariaDB)
and ``psycopg2`` (PostgreSQL) and compare the numbers with the DataJoint API.
"""

from __future__ import annotations

QUERIES = {
    "robustness per family": """
SELECT family, score, score_low, score_high, mce, n_models
FROM {prefix}robustness.__robustness
WHERE experiment = %(experiment)s AND corruption_source = %(source)s
ORDER BY family""",
    "robustness per family and category": """
SELECT family, category, score, score_low, score_high
FROM {prefix}robustness.__robustness__per_category
WHERE experiment = %(experiment)s AND corruption_source = %(source)s
ORDER BY family, category""",
    "accuracy per severity": """
SELECT m.kind, e.severity, AVG(e.accuracy) AS accuracy, COUNT(*) AS conditions
FROM {prefix}evaluation.__evaluation__condition AS e
JOIN {prefix}evaluation.classifier_model AS m USING (image_dataset, classifier_id)
WHERE e.corruption_source = %(source)s
GROUP BY m.kind, e.severity
ORDER BY m.kind, e.severity""",
}


def render(name: str, prefix: str = "cotrain_") -> str:
    return QUERIES[name].format(prefix=prefix).strip()


def run(name: str, **params) -> list[tuple]:
    """Run a query with the pipeline's database settings through a plain SQL client."""
    import datajoint as dj

    from schemas import connection

    connection.connection()  # applies the settings (and starts the embedded server)
    sql = render(name, connection.prefix())
    settings = {k: dj.config[f"database.{k}"] for k in ("host", "port", "user", "password")}
    if dj.config["database.backend"] == "postgresql":
        import psycopg2

        client = psycopg2.connect(host=settings["host"], port=settings["port"], user=settings["user"],
                                  password=settings["password"] or None, dbname="postgres")
    else:
        import mysql.connector

        client = mysql.connector.connect(host=settings["host"], port=settings["port"], user=settings["user"],
                                         password=settings["password"])
    try:
        cursor = client.cursor()
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        client.close()
