"""The SRDI financing and guarantee marketplace."""


def create_app(test_config=None):
    from marketplace.app import create_app as factory

    return factory(test_config)
