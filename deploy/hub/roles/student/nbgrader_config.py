"""nbgrader for a student's server: submissions readable only by their owner and the instructor."""
c = get_config()  # noqa: F821
c.ExchangeFactory.submit = "autograder.exchange.PrivateSubmit"
