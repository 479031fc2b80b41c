#!/bin/sh
# Creates the artifacts bucket and a store user limited to that bucket's objects, then
# exits. Every step fails loudly (set -e, no error is ignored); a rerun finds everything in
# place. Credentials travel in the environment (MC_HOST_local) and on stdin, never in argv.
set -eu
export MC_HOST_local="http://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@minio:9000"
mc mb --ignore-existing "local/$STORE_BUCKET"
cat > /tmp/policy.json <<JSON
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": ["arn:aws:s3:::$STORE_BUCKET"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                 "s3:ListMultipartUploadParts"],
   "Resource": ["arn:aws:s3:::$STORE_BUCKET/*"]}]}
JSON
mc admin policy create local pipeline-artifacts /tmp/policy.json
printf '%s\n' "$STORE_PASSWORD" | mc admin user add local "$STORE_USER"
if ! mc admin user info local "$STORE_USER" | grep -q "pipeline-artifacts"; then
  mc admin policy attach local pipeline-artifacts --user "$STORE_USER"
fi
