from functools import partial

from leaderboard.access import user_manages_caps


def nav(request):
    """Lazy: templates call it only where the page has no Viewer to ask (see base.html)."""
    return {"nav_caps": partial(user_manages_caps, request.user)}
