from rest_framework.pagination import PageNumberPagination

from core.admin_utils import EstimatedCountPaginator


class DefaultPagination(PageNumberPagination):
    """Page-number pagination whose `count` is PostgreSQL's estimate on big unfiltered lists.

    A COUNT(*) over a million tracks cost more than the page itself (bench: /api/v1/tracks);
    filtered lists and small tables keep the exact count (see EstimatedCountPaginator).
    """

    django_paginator_class = EstimatedCountPaginator
    page_size_query_param = "page_size"
    max_page_size = 500
