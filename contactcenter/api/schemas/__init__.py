"""Request and response shapes of the API (pydantic), one module per area; they also make the OpenAPI
description."""
