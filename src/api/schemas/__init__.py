"""Request and response bodies, named by direction (NewArticle in, ArticleOut out)."""
