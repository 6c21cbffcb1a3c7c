"""AWS implementations of the domain's ports (DynamoDB, S3, CloudWatch, SSM). No use-case logic here."""
