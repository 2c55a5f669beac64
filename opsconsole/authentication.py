from rest_framework.authentication import TokenAuthentication


class TokenOrBearerAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` as DRF has it, and `Bearer <key>` as automation sends it."""

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.lower().startswith("bearer "):
            self.keyword = "Bearer"
        else:
            self.keyword = "Token"
        return super().authenticate(request)
