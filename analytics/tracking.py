from flask import Blueprint

bp = Blueprint("tracking", __name__)
