#!/bin/sh
# Creates the artifacts bucket and a store user limited to it (read/write), then exits.
set -eu
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "local/$STORE_BUCKET"
cat > /tmp/policy.json <<JSON
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:*"],
   "Resource": ["arn:aws:s3:::$STORE_BUCKET", "arn:aws:s3:::$STORE_BUCKET/*"]}]}
JSON
mc admin policy create local pipeline-artifacts /tmp/policy.json || true
mc admin user add local "$STORE_USER" "$STORE_PASSWORD"
mc admin policy attach local pipeline-artifacts --user "$STORE_USER" || true
