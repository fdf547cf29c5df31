"""The only package that imports SpiffWorkflow. Everything it returns is ours."""
