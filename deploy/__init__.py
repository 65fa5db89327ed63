"""Infrastructure as code (AWS CDK v2, Python) and the packaging of the code it deploys."""
